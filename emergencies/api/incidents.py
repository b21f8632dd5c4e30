"""API writes on an emergency change's authorisation, incident and gates, each calling the same service as its
page: the commander's signed deviation to proceed before authorisation, re-requesting an authorisation
(emergencies.views.authorisation), completing the incident (emergencies.views.incident), the retroactive
results of several gates at once (emergencies.views.postincident) and a bypass for a GitHub pull request's
failing checks (emergencies.views.github)."""

from __future__ import annotations

from django.http import Http404, QueryDict
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from emergencies import permissions, selectors
from emergencies.api.bypasses.requests import BypassRequestCreateSerializer, BypassRequestSerializer, _with_signatures
from emergencies.api.lifecycle import ChangeAction, _post
from emergencies.models import GateResult, GitHubPullRequest, Incident
from emergencies.services import authorisation, github, incident, postincident
from emergencies.services.bypasses import can_request_bypass
from qms.api.fields import gate_code_field
from qms.api.problems import _call_service
from qms.models import ApiToken
from qms.procedures import GATE_CATALOGUE_MAX
from qms.security import signing_auth


class DeviationInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)
    password = serializers.CharField(write_only=True, style={"input_type": "password"})


class RerequestInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class GateRowInput(serializers.Serializer):
    gate = gate_code_field()
    result = serializers.ChoiceField(choices=GateResult.Result.values)
    evidence = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class GateResultsBulkInput(serializers.Serializer):
    results = GateRowInput(many=True, allow_empty=False, max_length=GATE_CATALOGUE_MAX)
    evidence_for_all = serializers.CharField(
        max_length=5000, required=False, allow_blank=True, default="", help_text="For the rows without evidence."
    )


class IncidentInput(serializers.Serializer):
    """Only the fields sent change; the reason is kept with the change."""

    commander = serializers.SlugRelatedField(
        slug_field="username", queryset=selectors.commanders(), required=False, allow_null=True
    )
    severity = serializers.CharField(max_length=32, required=False, help_text="A severity of the procedure's scale.")
    detected_at = serializers.DateTimeField(required=False)
    detection_source = serializers.ChoiceField(choices=Incident.DetectionSource.values, required=False)
    affected_systems = serializers.CharField(max_length=10_000, required=False, allow_blank=True)
    reason = serializers.CharField(max_length=2000)


class ProceedDeviation(ChangeAction):
    """The incident commander signs (password) that the hotfix goes ahead before its authorisation is
    complete; EMG-E001 stays open until it is authorised."""

    serializer_class = DeviationInput
    token_scopes = {"POST": ApiToken.Scope.SIGN}
    editable = False  # the service checks that the actor is the change's commander

    @_post(
        DeviationInput, "Proceed before authorisation", {"reason": "Checkout down, verbal go-ahead", "password": "…"}
    )
    def post(self, request, identifier):
        return self.act(request, identifier)

    def perform(self, request, change, data):
        authorisation.change_proceed_before_authorisation(
            change_id=change.pk,
            actor=request.user,
            password=data["password"],
            reason=data["reason"],
            auth=signing_auth(request),
        )


class AuthorisationRerequest(ChangeAction):
    """After a rejected or withdrawn authorisation, ask the authorisers again (a new emergency bypass)."""

    serializer_class = RerequestInput
    editable = False
    success_status = status.HTTP_201_CREATED

    @_post(RerequestInput, "Re-request the authorisation", {"reason": "Rollback plan added"})
    def post(self, request, identifier):
        return self.act(request, identifier)

    def perform(self, request, change, data):
        authorisation.change_authorisation_rerequest(change_id=change.pk, actor=request.user, reason=data["reason"])


class GateResultsBulk(ChangeAction):
    """Record the retroactive results of several bypassed gates at once: all of them, or none."""

    serializer_class = GateResultsBulkInput
    editable = False
    roles = tuple(postincident.VALIDATOR_ROLES)
    roles_message = "Validating gates needs a QMS, quality, architect, lead, security, CM or engineering manager role."
    success_status = status.HTTP_201_CREATED

    @_post(
        GateResultsBulkInput,
        "Gate results",
        {"results": [{"gate": "full_regression", "result": "passed"}], "evidence_for_all": "CI run 812"},
    )
    def post(self, request, identifier):
        return self.act(request, identifier)

    def perform(self, request, change, data):
        postincident.gate_results_record(
            change_id=change.pk,
            results=[(row["gate"], row["result"], row["evidence"]) for row in data["results"]],
            actor=request.user,
            evidence_for_all=data["evidence_for_all"].strip(),
        )


class IncidentUpdate(ChangeAction):
    """Complete or correct the change's incident: commander, severity, detection, affected systems."""

    serializer_class = IncidentInput
    editable = False
    token_scopes = {"PATCH": ApiToken.Scope.INTEGRATIONS}

    @_post(IncidentInput, "Incident", {"severity": "HIGH", "reason": "Confirmed customer impact"})
    def patch(self, request, identifier):
        if not incident.can_edit_incident(request.user):
            raise PermissionDenied("The on-call engineer, the incident commander or a QMS coordinator completes it.")
        return self.act(request, identifier)

    def perform(self, request, change, data):
        if change.incident_id is None:
            raise Http404(f"{change.identifier} has no incident.")
        incident.incident_update(
            incident_id=change.incident_id,
            actor=request.user,
            reason=data["reason"],
            commander=data.get("commander"),
            severity=data.get("severity") or None,
            detected_at=data.get("detected_at"),
            detection_source=data.get("detection_source") or None,
            affected_systems=data.get("affected_systems"),
        )


class PullBypassInput(BypassRequestCreateSerializer):
    repository = serializers.CharField(max_length=200, required=False, help_text="Taken from the pull request.")
    pull_request = serializers.CharField(max_length=200, required=False, help_text="Taken from the pull request.")
    checks = serializers.ListField(
        child=gate_code_field(of="the repository's procedure's current"),
        required=False,
        max_length=GATE_CATALOGUE_MAX,
        help_text="The failing required checks if omitted.",
    )
    head_sha = serializers.CharField(max_length=64, help_text="The head commit you saw; refused if it moved.")

    def to_input(self):
        self.validated_data.pop("head_sha", None)
        return super().to_input()

    @staticmethod
    def with_defaults(data, pull: GitHubPullRequest):
        """The request as sent, with what the page pre-fills from the pull request where it is missing."""
        if isinstance(data, QueryDict):
            values = data.copy()
        elif isinstance(data, dict):
            values = dict(data)
        else:
            return data
        values.setdefault("repository", pull.repository.full_name)
        values.setdefault("pull_request", f"#{pull.number}")
        if "checks" not in values:
            failing = [key for _name, key in github.github_pull_failing_checks(pull)]
            if isinstance(values, QueryDict):
                values.setlist("checks", failing)
            else:
                values["checks"] = failing
        return values


class GitHubPullBypass(generics.GenericAPIView):
    """Request a bypass of a GitHub pull request's failing required checks, scoped to its head commit."""

    serializer_class = PullBypassInput
    token_scopes = {"POST": ApiToken.Scope.FILE_STUBS}

    @extend_schema(
        request=PullBypassInput,
        responses={201: BypassRequestSerializer},
        summary="Bypass a pull request's checks",
        examples=[
            OpenApiExample(
                "Bypass a pull request's checks",
                value={"head_sha": "3f2c9a1", "production_impact": "high", "reason": "Checkout down"},
                request_only=True,
            )
        ],
    )
    def post(self, request, repository_id: int, number: int):
        if not permissions.can_view_changes(request.user):
            raise Http404("No such pull request.")
        pull = (
            GitHubPullRequest.objects.select_related("repository")
            .filter(repository_id=repository_id, number=number)
            .first()
        )
        if pull is None:
            raise Http404("No such pull request.")
        if not can_request_bypass(request.user):
            raise PermissionDenied("Your roles do not allow requesting bypasses.")
        data = self.get_serializer(data=PullBypassInput.with_defaults(request.data, pull))
        data.is_valid(raise_exception=True)
        head_sha = data.validated_data["head_sha"]
        bypass = _call_service(
            github.github_bypass_request_create,
            pull_id=pull.pk,
            head_sha=head_sha,
            data=data.to_input(),
            actor=request.user,
        )
        return Response(_with_signatures(BypassRequestSerializer, bypass), status=status.HTTP_201_CREATED)
