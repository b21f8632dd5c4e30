"""API writes on an emergency change, each calling the same service as its page (emergencies.views.changes
and .postincident): transitions, the stub checklist, the hotfix review, the deployment checklist, rollback
readings, the full documentation and retroactive gate results. Each answers the change as
``GET /emergencies/{id}/`` does (with its ETag) and honours If-Match."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from emergencies import permissions, selectors, services
from emergencies.api import examples as ex
from emergencies.api.changes import ChangeRecordSerializer
from emergencies.models import GateResult
from emergencies.services import postincident
from qms.api.concurrency import ETagMixin, precondition_check
from qms.api.fields import gate_code_field
from qms.api.problems import _call_service
from qms.limits import TEXT_MAX
from qms.models import ApiToken


class TransitionInput(serializers.Serializer):
    transition = serializers.CharField(
        max_length=64, help_text="A transition the change offers you, e.g. start_hotfix."
    )
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ChecklistInput(serializers.Serializer):
    item = serializers.ChoiceField(choices=list(services.CHECKLIST_ITEMS))
    done = serializers.BooleanField()


class DeploymentFlagInput(serializers.Serializer):
    flag = serializers.ChoiceField(choices=list(postincident.DEPLOYMENT_FLAGS))
    done = serializers.BooleanField()


class RollbackReadingInput(serializers.Serializer):
    error_rate_increase_pct = serializers.DecimalField(max_digits=6, decimal_places=2, min_value=-100)
    response_time_ratio = serializers.DecimalField(max_digits=6, decimal_places=2, min_value=0)
    new_critical_errors = serializers.IntegerField(min_value=0, max_value=1_000_000_000)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class DocumentationInput(serializers.Serializer):
    problem_statement = serializers.CharField(max_length=TEXT_MAX, required=False)
    root_cause = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    impact_assessment = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    timeline = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    affected_artifacts = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    resolution = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    rollback_plan = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    lessons_learned = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)


class GateResultInput(serializers.Serializer):
    gate = gate_code_field()
    result = serializers.ChoiceField(choices=GateResult.Result.values)
    evidence = serializers.CharField(max_length=4000)


class ChangeAction(ETagMixin, generics.GenericAPIView):
    """A write on one change: validate, check If-Match, call the page's service, answer the change."""

    token_scopes = {"POST": ApiToken.Scope.INTEGRATIONS, "PATCH": ApiToken.Scope.INTEGRATIONS}
    editable = True  # the page refuses (403) up front who may not work on the change
    roles: tuple = ()  # and, where it does, who holds none of these roles
    roles_message = ""
    success_status = status.HTTP_200_OK

    def perform(self, request, change, data) -> None:
        raise NotImplementedError

    def act(self, request, identifier):
        change = selectors.change_get_for_user(identifier=identifier, user=request.user)
        if self.editable and not permissions.can_edit_change(change, request.user):
            raise PermissionDenied("You may not update this change.")
        if self.roles and not request.user.has_role(*self.roles):
            raise PermissionDenied(self.roles_message)
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        precondition_check(request, lambda: ChangeRecordSerializer(change).data)
        _call_service(self.perform, request=request, change=change, data=data.validated_data)
        change = selectors.change_get_for_user(identifier=identifier, user=request.user)
        return Response(ChangeRecordSerializer(change).data, status=self.success_status)


def _post(input_serializer, summary: str, example: dict | None = None):
    return extend_schema(
        request=input_serializer,
        responses={200: ChangeRecordSerializer, 201: ChangeRecordSerializer},
        summary=summary,
        examples=[
            *([OpenApiExample(summary, value=example, request_only=True)] if example else []),
            *ex.response("The change after it", ex.CHANGE),
        ],
    )


class ChangeTransition(ChangeAction):
    """Move the change along its lifecycle (the transitions the change page offers you)."""

    serializer_class = TransitionInput
    editable = False  # the service checks the transition's own rights

    @_post(TransitionInput, "Transition", {"transition": "start_hotfix", "reason": "Fix ready"})
    def post(self, request, identifier):
        return self.act(request, identifier)

    def perform(self, request, change, data):
        services.change_record_transition(
            change_id=change.pk, transition=data["transition"], actor=request.user, reason=data["reason"]
        )


class ChangeChecklist(ChangeAction):
    """Tick or untick an item of the stub's checklist."""

    serializer_class = ChecklistInput
    editable = False

    @_post(ChecklistInput, "Checklist item", {"item": "hotfix_in_progress", "done": True})
    def post(self, request, identifier):
        return self.act(request, identifier)

    def perform(self, request, change, data):
        services.change_record_checklist_set(
            change_id=change.pk, item=data["item"], done=data["done"], actor=request.user
        )


class HotfixReview(ChangeAction):
    """Record that you, a second engineer (never the author), reviewed the hotfix."""

    serializer_class = serializers.Serializer

    @_post(None, "Hotfix review")
    def post(self, request, identifier):
        return self.act(request, identifier)

    def perform(self, request, change, data):
        postincident.hotfix_review_record(change_id=change.pk, reviewer=request.user)


class DeploymentChecklist(ChangeAction):
    """Tick or untick an item of the §3.3 deployment checklist."""

    serializer_class = DeploymentFlagInput

    @_post(DeploymentFlagInput, "Deployment checklist item", {"flag": "smoke_test_passed", "done": True})
    def post(self, request, identifier):
        return self.act(request, identifier)

    def perform(self, request, change, data):
        postincident.change_deployment_flag_set(
            change_id=change.pk, flag=data["flag"], done=data["done"], actor=request.user
        )


class RollbackReadings(ChangeAction):
    """Record a rollback-trigger reading (§3.4)."""

    serializer_class = RollbackReadingInput
    success_status = status.HTTP_201_CREATED

    @_post(
        RollbackReadingInput,
        "Rollback reading",
        {"error_rate_increase_pct": "2.5", "response_time_ratio": "1.1", "new_critical_errors": 0},
    )
    def post(self, request, identifier):
        return self.act(request, identifier)

    def perform(self, request, change, data):
        postincident.rollback_reading_record(change_id=change.pk, actor=request.user, **data)


class Documentation(ChangeAction):
    """Update sections of the full CHG documentation (§4.1); send only the sections you change."""

    serializer_class = DocumentationInput

    @_post(DocumentationInput, "Documentation", {"root_cause": "Expired certificate", "resolution": "Renewed"})
    def patch(self, request, identifier):
        return self.act(request, identifier)

    def perform(self, request, change, data):
        postincident.change_documentation_update(change_id=change.pk, actor=request.user, sections=dict(data))


class GateResults(ChangeAction):
    """Record a bypassed gate's result, retroactively (validators other than the author)."""

    serializer_class = GateResultInput
    editable = False
    roles = tuple(postincident.VALIDATOR_ROLES)
    roles_message = "Validating gates needs a QMS, quality, architect, lead, security, CM or engineering manager role."
    success_status = status.HTTP_201_CREATED

    @_post(GateResultInput, "Gate result", {"gate": "full_regression", "result": "passed", "evidence": "CI run 812"})
    def post(self, request, identifier):
        return self.act(request, identifier)

    def perform(self, request, change, data):
        postincident.gate_result_record(change_id=change.pk, actor=request.user, **data)
