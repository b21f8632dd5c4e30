"""Demo data for every procedure (used by ``seed_demo``): an S2 incident under QMS Emergency Bypass Procedures
v1.0, an ENG-PROC-004 hotfix, and two CM-WF-EMERGENCY changes (one with Gate 1 and an open Gate 2 session with
votes; one through Gates 1-3 with an approved patch package whose units are at several install states)."""

from __future__ import annotations

from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from emergencies.models import BypassRequest, CCBSession
from emergencies.services import StubInput, ccb, change_record_transition, emergency_stub_file, gates, patches
from emergencies.services import postincident as pi
from emergencies.services.bypasses import bypass_sign, bypass_slot_status
from emergencies.services.incident import incident_update
from qms.models import User
from qms.roles import Role

PATCH_TEXTS = {
    "summary": "Bounds check on the altitude filter; nothing else.",
    "installation_procedure": "1. Ground the unit.\n2. Load fw-2.4.1.bin from the maintenance port.",
    "verification_procedure": "Run BIT; read the firmware hash from the maintenance page.",
    "rollback_procedure": "Reload fw-2.4.0.bin from the maintenance port.",
    "release_notice": "EMERGENCY RELEASE NOTICE: install fw-2.4.1 before the next flight.",
}


def seed_procedures(users: dict[Role, User], password: str) -> None:
    now = timezone.now()
    oncall, commander = users[Role.ONCALL], users[Role.COMMANDER]

    def file(minutes_ago: int, code: str, **kwargs):
        data = StubInput(procedure_code=code, **kwargs)
        return emergency_stub_file(data=data, actor=oncall, now=now - timedelta(minutes=minutes_ago))

    def authorise(change):
        bypass = BypassRequest.objects.filter(change=change).order_by("-requested_at").first()
        for slot in bypass_slot_status(bypass):
            role = slot.roles[0]
            bypass_sign(bypass_id=bypass.pk, signer=users[role], password=password, role=role, comment="Demo")

    def deployment_ready(change):
        pi.hotfix_review_record(change_id=change.pk, reviewer=users[Role.LEAD])
        for flag in ("smoke_test_passed", "deployment_notification_sent", "dashboards_open", "oncall_team_notified"):
            pi.change_deployment_flag_set(change_id=change.pk, flag=flag, done=True, actor=oncall)
        pi.change_documentation_update(
            change_id=change.pk,
            actor=oncall,
            sections={"rollback_plan": "Reload the previous firmware.", "impact_assessment": "Fleet-wide, low."},
        )

    # QMS Emergency Bypass Procedures v1.0: the commander downgraded it to S2 after filing.
    qms_change = file(
        25,
        "qms-emergency-bypass-v1",
        title="Order confirmation emails delayed",
        category="p1_incident",
        commander=commander,
        problem_statement="Confirmation emails leave 40 minutes late; orders themselves go through.",
    )
    incident_update(
        incident_id=qms_change.incident_id,
        actor=commander,
        reason="Orders go through: major impairment, not an outage (S2)",
        severity="S2",
        detected_at=now - timedelta(minutes=40),
        detection_source="monitoring",
    )

    # ENG-PROC-004: Engineering Lead and Security authorised, hotfix under way.
    eng = file(
        70,
        "eng-proc-004",
        title="Session store evicts active sessions",
        category="p1_incident",
        problem_statement="Users are logged out every few minutes after the cache upgrade.",
    )
    authorise(eng)
    change_record_transition(change_id=eng.pk, transition="start_hotfix", actor=oncall, reason="Pinning the cache")

    seats = lambda change: [  # noqa: E731
        (users[s.role], s.role) for s in gates.required_seats(change) if s.role != Role.CM
    ]

    def declare(change):
        criteria = tuple(change.rules.severity_criteria(change.incident.severity)[:1])
        data = gates.DeclareInput(True, change.incident.severity, criteria, "Meets §4 critical criteria", Role.CM)
        gates.gate_declare_record(change_id=change.pk, actor=users[Role.CM], password=password, data=data)

    def session(change, gate) -> CCBSession:
        data = ccb.SessionInput(gate=gate, scheduled_at=timezone.now(), members=tuple(seats(change)))
        return ccb.ccb_session_convene(change_id=change.pk, data=data, actor=users[Role.CM])

    def vote_all(s, voters):
        for user in voters:
            ccb.ccb_vote_cast(session_id=s.pk, voter=user, password=password, choice="approve", comment="Go")

    def pass_gate(change, gate):
        s = session(change, gate)
        vote_all(s, [m.user for m in s.members.select_related("user")])
        decision = ccb.DecisionInput(outcome="approve", reason="Unanimous")
        ccb.ccb_session_decide(session_id=s.pk, decider=users[Role.PROGRAM], password=password, data=decision)

    # CM-WF-EMERGENCY A: Gate 1 recorded, the Gate 2 session open with two votes of four.
    a = file(
        50,
        "cm-wf-emergency",
        title="Ground station telemetry decoder crashes",
        category="p1_incident",
        problem_statement="The decoder crashes on a new frame type; telemetry is lost for two satellites.",
        affected_systems="GS-1 ground station\nGS-2 ground station",
    )
    authorise(a)
    declare(a)
    open_session = session(a, "fast_track")
    members = [m.user for m in open_session.members.select_related("user") if m.user.pk != users[Role.PROGRAM].pk]
    vote_all(open_session, members[:2])

    # CM-WF-EMERGENCY B: Gates 1-3, an approved package, units at several install states, deployed.
    b = file(
        60 * 20,
        "cm-wf-emergency",
        title="Altitude filter overflow in flight computer",
        category="p1_incident",
        problem_statement="A sensor spike overflows the altitude filter; the flight computer resets.",
        affected_systems="SN-100 flight computer, tail 4\nSN-200 flight computer, tail 7\nSN-300 spare",
    )
    authorise(b)
    declare(b)
    pass_gate(b, "fast_track")
    change_record_transition(change_id=b.pk, transition="start_hotfix", actor=oncall, reason="Patch development")
    deployment_ready(b)
    gates.change_verification_set(change_id=b.pk, complete=True, actor=oncall)
    pass_gate(b, "deployment")
    package = patches.patch_package_create(change_id=b.pk, actor=oncall, texts=PATCH_TEXTS)
    firmware = SimpleUploadedFile("fw-2.4.1.bin", b"flight-computer firmware 2.4.1\n" * 1000)
    patches.patch_artifact_upload(package_id=package.pk, actor=oncall, file=firmware)
    patches.patch_package_approve(
        package_id=package.pk, signer=users[Role.RELEASE], password=password, role=Role.RELEASE
    )
    units = patches.unit_distributions_from_incident(package_id=package.pk, actor=oncall)
    firmware_hash = package.artifacts.get().sha256
    for index, unit in enumerate(units):
        if index > 1:
            break  # the spare is listed, not yet sent
        patches.unit_sent_record(distribution_id=unit.pk, actor=oncall, channel="secure_delivery")
        patches.unit_acknowledgement_record(distribution_id=unit.pk, actor=oncall, acknowledged_by="Crew chief Ada")
        if index == 0:
            patches.unit_install_record(
                distribution_id=unit.pk, actor=oncall, succeeded=True, reported_hash=firmware_hash
            )
            patches.unit_verification_record(distribution_id=unit.pk, actor=oncall, passed=True, notes="BIT green")
    change_record_transition(change_id=b.pk, transition="deploy", actor=oncall, reason="Patch released to the fleet")
