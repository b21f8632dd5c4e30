from datetime import timedelta

import factory
from django.contrib.auth.models import Group

from emergencies.management.postincident import PostIncidentTexts, post_incident_complete
from emergencies.services import StubInput, emergency_stub_file
from qms.models import User
from qms.roles import Role


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pw-correct-horse")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.set([Group.objects.get(name=Role(r).group_name) for r in extracted])

    @factory.post_generation
    def trained(self, create, extracted, **kwargs):
        """Every course of the procedures, valid for a year (``trained=False`` for an untrained user)."""
        if create and extracted is not False:
            certify(self)


def stub_input(**overrides) -> StubInput:
    values = {
        "title": "Checkout API returns 500",
        "category": "p1_incident",
        "problem_statement": "Every order fails since 02:40 UTC.",
    }
    values.update(overrides)
    return StubInput(**values)


def file_stub(actor: User, **overrides):
    now = overrides.pop("now", None)
    return emergency_stub_file(data=stub_input(**overrides), actor=actor, now=now)


PASSWORD = "pw-correct-horse"


def certify(user: User, courses=None, *, completed_on=None, expires_on=None) -> None:
    """Training records of ``user`` (every preset course by default), recorded by the system's importer."""
    from django.utils import timezone

    from qms.models import TrainingRecord
    from qms.procedures.training import COURSES

    completed_on = completed_on or timezone.localdate() - timedelta(days=1)
    expires_on = expires_on or completed_on + timedelta(days=365)
    TrainingRecord.objects.bulk_create(
        TrainingRecord(
            user=user,
            course=course,
            completed_on=completed_on,
            expires_on=expires_on,
            evidence_reference="factory",
            source=TrainingRecord.Source.IMPORTED,
            recorded_by=user,
        )
        for course in (courses or COURSES)
    )


def authorise(change, *signers):
    """Sign a stub's emergency bypass with each signer, in the first role of theirs it asks for."""
    from emergencies.models import BypassRequest
    from emergencies.services.bypasses import bypass_sign, bypass_slot_status

    bypass = BypassRequest.objects.filter(change=change, level="E").order_by("-requested_at", "-pk").first()
    for signer in signers:
        slots = bypass_slot_status(bypass)
        role = next(r for slot in slots if not slot.filled for r in slot.roles if signer.has_role(r))
        bypass = bypass_sign(bypass_id=bypass.pk, signer=signer, password=PASSWORD, role=role)
    change.refresh_from_db()
    return bypass


def ready_to_deploy(change, reviewer):
    """Tick the emergency deployment checklist (§3.3) with a second engineer's review."""
    from emergencies.services.postincident import (
        DEPLOYMENT_FLAGS,
        change_deployment_flag_set,
        change_documentation_update,
        hotfix_review_record,
    )

    hotfix_review_record(change_id=change.pk, reviewer=reviewer)
    for flag in DEPLOYMENT_FLAGS:
        if flag != "stakeholders_notified":
            change_deployment_flag_set(change_id=change.pk, flag=flag, done=True, actor=change.author)
    change_documentation_update(
        change_id=change.pk, actor=change.author, sections={"rollback_plan": "Revert the release; feature flag off."}
    )
    change.refresh_from_db()
    return change


def deploy_and_resolve(change, *, reviewer, commander):
    """From an authorised stub to post-incident documentation: hotfix, deploy, monitor, resolve."""
    from emergencies.services import change_record_transition

    change_record_transition(change_id=change.pk, transition="start_hotfix", actor=change.author)
    ready_to_deploy(change, reviewer)
    for name, actor in (("deploy", change.author), ("start_monitoring", change.author), ("resolve", commander)):
        change_record_transition(change_id=change.pk, transition=name, actor=actor, reason=name)
    change.refresh_from_db()
    return change


# What close_emergency writes on the way to closure: short texts in every required field.
CLOSURE = PostIncidentTexts(
    sections={
        "root_cause": "r",
        "impact_assessment": "i",
        "timeline": "t",
        "affected_artifacts": "a",
        "resolution": "fix",
        "lessons_learned": "l",
    },
    post_mortem={
        "why_1": "1",
        "why_2": "2",
        "why_3": "3",
        "why_4": "4",
        "why_5": "5",
        "resolution": "fix",
        "went_well": "w",
        "went_poorly": "p",
    },
    measure={"measure": "m", "category": "process", "priority": "Low"},
    evidence="ok",
)


def close_emergency(change, *, now=None):
    """Take an emergency stub through everything the closure checklist (§4.5) asks, then close it."""
    from emergencies.services import change_record_transition

    commander = UserFactory(roles=[Role.COMMANDER.value])
    reviewer = UserFactory(roles=[Role.ONCALL.value])
    coordinator = UserFactory(roles=[Role.QMS.value])
    author = change.author
    if change.status == "stub":
        authorise(change, *[commander if r == "commander" else UserFactory(roles=[r]) for r in _slot_roles(change)])
    change_record_transition(change_id=change.pk, transition="start_hotfix", actor=author, now=now)
    ready_to_deploy(change, reviewer)
    for name in ("deploy", "start_monitoring", "resolve"):
        change_record_transition(change_id=change.pk, transition=name, actor=author, reason=name, now=now)
    post_incident_complete(
        change=change, author=author, approver=commander, password=PASSWORD, validator=coordinator, texts=CLOSURE
    )
    return change_record_transition(change_id=change.pk, transition="close", actor=coordinator, now=now)


def _slot_roles(change):
    from emergencies.models import BypassRequest
    from emergencies.services.bypasses import bypass_slot_status

    bypass = BypassRequest.objects.filter(change=change, level="E").order_by("-requested_at", "-pk").first()
    return [slot.roles[0].value for slot in bypass_slot_status(bypass) if not slot.filled]


def pass_gates(change, *codes, actor):
    """Test set-up: record these CCB gates of a change as passed, in order. Gate 1 goes through its own
    signed service; the others are written as a session would leave them, with a signature."""
    from django.utils import timezone

    from emergencies.models import GateDecision
    from emergencies.services import gates
    from qms.models import Signature
    from qms.services import signature_record

    for code in codes:
        decision = gates.latest_decision(change, code)
        if decision is not None and decision.result == GateDecision.Result.PASSED:
            continue
        if code == "declare":
            severity = change.incident.severity
            criteria = tuple(change.rules.severity_criteria(severity)[:1])
            data = gates.DeclareInput(
                warranted=True, severity=severity, criteria=criteria, reason="set-up", role=Role.CM
            )
            gates.gate_declare_record(change_id=change.pk, actor=actor, password=PASSWORD, data=data)
            continue
        signature = signature_record(
            subject=change,
            content={"change": change.identifier, "gate": code, "set_up": True},
            signer=actor,
            role=Role.CM,
            meaning=Signature.Meaning.APPROVED,
        )
        GateDecision.objects.create(
            change=change,
            gate=code,
            result=GateDecision.Result.PASSED,
            decided_by=actor,
            role=Role.CM.value,
            reason="set-up",
            decided_at=timezone.now(),
            signature=signature,
        )


def gates_before(change, code) -> list[str]:
    """The chain of gates that must pass before ``code`` (earliest first)."""
    from emergencies.services.gates import ccb_available

    if not ccb_available(change):
        return []
    chain, current = [], change.rules.ccb_gate(code)
    while current.requires:
        previous = current.requires[0]
        chain.insert(0, previous)
        current = change.rules.ccb_gate(previous)
    return chain


def proceed_unauthorised(change, commander):
    """The incident commander signs "proceed before authorisation" (Emergency Bypass Workflow only)."""
    from emergencies.services.authorisation import change_proceed_before_authorisation

    change = change_proceed_before_authorisation(
        change_id=change.pk, actor=commander, password=PASSWORD, reason="Verbal go-ahead; production is down."
    )
    return change


def api_token(user, *, scopes=None, second_factor_verified=False, name="test token", expires_at=None):
    """A scoped API token and its secret (every scope unless told)."""
    from django.utils import timezone

    from qms.models import ApiToken
    from qms.services.tokens import api_token_create

    return api_token_create(
        user=user,
        name=name,
        scopes=list(ApiToken.Scope.values) if scopes is None else scopes,
        expires_at=expires_at or timezone.now() + timedelta(days=30),
        second_factor_verified=second_factor_verified,
    )
