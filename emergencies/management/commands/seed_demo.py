"""Demo users (one per role) and a handful of emergencies in different states. Development only."""

import os
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from emergencies.management.postincident import PostIncidentTexts, post_incident_complete
from emergencies.management.procedures import seed_procedures
from emergencies.models import BypassRequest, ChangeRecord
from emergencies.services import StubInput, change_record_transition, emergency_stub_file
from emergencies.services import postincident as pi
from emergencies.services.bypasses import (
    BypassInput,
    bypass_reject,
    bypass_request_create,
    bypass_sign,
    bypass_slot_status,
)
from qms.bootstrap import ensure_reference_data
from qms.models import User
from qms.roles import Role
from qms.services import SigningAuth

# The demo seed signs as its demo users on the operator's command line, refused outside DEBUG: it stands in
# for their own code-verified sessions, so the demo can be seeded with QMS_REQUIRE_TOTP_FOR_SIGNERS on.
DEMO_SIGNING = SigningAuth(second_factor=True)

DEMO_PEOPLE = {
    Role.ONCALL: ("Olivia", "Oncall"),
    Role.COMMANDER: ("Carlos", "Commander"),
    Role.LEAD: ("Lena", "Lead"),
    Role.ARCHITECT: ("Arjun", "Architect"),
    Role.QMS: ("Quinn", "Coordinator"),
    Role.SECURITY: ("Sofia", "Security"),
    Role.LEGAL: ("Leo", "Legal"),
    Role.EXECUTIVE: ("Eve", "Executive"),
    Role.CM: ("Chris", "Config-Manager"),
    Role.SAFETY: ("Sam", "Safety"),
    Role.ENGMANAGER: ("Emma", "Engineering-Manager"),
    Role.QUALITY: ("Quentin", "Quality"),
    Role.PROGRAM: ("Priya", "Program"),
    Role.RELEASE: ("Rita", "Release"),
    Role.CERTLEAD: ("Cora", "Certification"),
    Role.AUDITOR: ("Aude", "Auditor"),
    Role.TESTLEAD: ("Tess", "Test-Lead"),
    Role.OPSLEAD: ("Omar", "Operations-Lead"),
}


# The search cluster's post-incident work, done before it was closed.
DEMO_POST_INCIDENT = PostIncidentTexts(
    sections={
        "root_cause": "Index retention was never tuned for the new logging volume.",
        "impact_assessment": "Search returned no results for 3 hours.",
        "timeline": "Detected by alert; P1 declared; retention lowered; stable.",
        "affected_artifacts": "search-cluster config v14",
        "resolution": "Lowered index retention from 90 to 30 days.",
        "lessons_learned": "Disk alerts need a forecast, not a threshold.",
    },
    post_mortem={
        "why_1": "Search nodes ran out of disk",
        "why_2": "Indices grew faster than planned",
        "why_3": "Logging volume doubled",
        "why_4": "No capacity review after the logging change",
        "why_5": "Capacity reviews are not part of the change process",
        "resolution": "Lowered retention",
        "went_well": "Fast diagnosis",
        "went_poorly": "Alert fired at 100%",
        "got_lucky": "Night-time traffic",
        "users_affected": 5400,
        "revenue_impact": "Minor",
        "contributing_factors": "Doubling of log volume",
    },
    measure={"category": "monitoring", "measure": "Forecast-based disk alerts", "priority": "High"},
    evidence="Retroactive run attached to the change",
    approval_comment="Reviewed in the post-mortem meeting",
)


class Command(BaseCommand):
    help = "Create demo users (one per role, username = role) and a few emergencies. Refuses when DEBUG is off."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo only runs with DEBUG on: it creates users with a known password.")
        password = os.environ.get("DEMO_PASSWORD", "qms-demo")
        ensure_reference_data()
        users = self._users(password)
        if ChangeRecord.objects.exists():
            self.stdout.write("Emergencies already exist; demo changes not added again.")
        else:
            self._changes(users, password)
            self._bypasses(users, password)
            seed_procedures(users, password)
            for kind in ("daily", "weekly", "monthly"):
                call_command("compliance_report", kind, stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS(f"Demo ready: {len(users)} users, password {password!r}."))

    @transaction.atomic
    def _users(self, password: str) -> dict[Role, User]:
        users = {}
        for role, (first, last) in DEMO_PEOPLE.items():
            user, _ = User.objects.get_or_create(username=role.value)
            user.first_name, user.last_name = first, last
            user.email = f"{role.value}@example.com"
            user.is_active = True
            user.set_password(password)
            user._change_reason = "demo user"
            user.save()
            user.groups.set([Group.objects.get(name=role.group_name)])
            users[role] = user
        admin, _ = User.objects.get_or_create(username="admin")
        admin.first_name, admin.last_name, admin.email = "Ada", "Admin", "admin@example.com"
        admin.is_staff = admin.is_superuser = True
        admin.set_password(password)
        admin.save()
        self._training(users, admin)
        return users

    def _training(self, users: dict[Role, User], recorder: User) -> None:
        """Every demo user holds every course, valid today; the release manager's tabletop exercise lapses
        within 30 days so the training matrix has someone to warn about."""
        from qms.models import TrainingRecord
        from qms.procedures.training import COURSES
        from qms.services.training import add_months

        if TrainingRecord.objects.exists():
            return
        today = timezone.localdate()
        rows = []
        for role, user in users.items():
            for course, spec in COURSES.items():
                completed = today - timedelta(days=60)
                if role == Role.RELEASE and course == "tabletop_exercise":
                    completed = today - timedelta(days=165)
                expires = add_months(completed, spec["validity_months"])
                rows.append(
                    TrainingRecord(
                        user=user,
                        course=course,
                        completed_on=completed,
                        expires_on=expires,
                        evidence_reference=f"DEMO-{course.upper()}-{user.username}",
                        source=TrainingRecord.Source.IMPORTED,
                        recorded_by=recorder,
                    )
                )
        TrainingRecord.objects.bulk_create(rows)

    def _changes(self, users: dict[Role, User], password: str) -> None:
        now = timezone.now()
        oncall, commander, security = users[Role.ONCALL], users[Role.COMMANDER], users[Role.SECURITY]
        qms = users[Role.QMS]

        def file(minutes_ago, **kwargs):
            data = StubInput(**kwargs)
            return emergency_stub_file(data=data, actor=oncall, now=now - timedelta(minutes=minutes_ago))

        def prepare_deployment(change):
            pi.hotfix_review_record(change_id=change.pk, reviewer=users[Role.LEAD])
            for flag in (
                "smoke_test_passed",
                "security_scan_passed",
                "deployment_notification_sent",
                "dashboards_open",
                "oncall_team_notified",
            ):
                pi.change_deployment_flag_set(change_id=change.pk, flag=flag, done=True, actor=oncall)
            pi.change_documentation_update(
                change_id=change.pk, actor=oncall, sections={"rollback_plan": "Revert to the previous release."}
            )

        def authorise(change):
            """Every required authoriser signs the stub's emergency bypass (demo users know the password)."""
            bypass = BypassRequest.objects.get(change=change)
            for slot in bypass_slot_status(bypass):
                role = slot.roles[0]
                bypass = bypass_sign(
                    bypass_id=bypass.pk,
                    signer=users[role],
                    password=password,
                    role=role,
                    comment="Demo authorisation",
                    auth=DEMO_SIGNING,
                )
            change.refresh_from_db()
            return change

        def move(change, *steps):
            for name, actor, minutes_ago, reason in steps:
                if name == "authorize_bypass":
                    change = authorise(change)
                    continue
                if name == "deploy":
                    prepare_deployment(change)
                if name == "close":
                    post_incident_complete(
                        change=change,
                        author=oncall,
                        approver=commander,
                        password=password,
                        validator=qms,
                        texts=DEMO_POST_INCIDENT,
                        auth=DEMO_SIGNING,
                    )
                change = change_record_transition(
                    change_id=change.pk,
                    transition=name,
                    actor=actor,
                    reason=reason,
                    now=now - timedelta(minutes=minutes_ago),
                )
            return change

        file(
            12,
            title="Checkout API returns 500 for every order",
            category="p1_incident",
            commander=commander,
            problem_statement="Since 02:40 UTC every POST /orders fails with 500; revenue stopped.",
        )
        move(
            file(
                95,
                title="Auth service accepts expired tokens",
                category="critical_security",
                cvss_score=Decimal("9.8"),
                commander=commander,
                problem_statement="CVE under active exploitation: expired JWTs are accepted.",
            ),
            ("authorize_bypass", commander, 80, "Severity confirmed, bypass authorised."),
        )
        move(
            file(
                300,
                title="Customer export bucket publicly readable",
                category="data_breach",
                commander=commander,
                problem_statement="The nightly export bucket lost its ACL; customer emails were readable.",
            ),
            ("authorize_bypass", security, 290, "Exposure confirmed."),
            ("start_hotfix", oncall, 280, "Restoring the ACL and rotating links."),
        )
        move(
            file(
                60 * 30,
                title="Payment webhook queue stalled",
                category="p1_incident",
                commander=commander,
                problem_statement="Webhook consumer crashed on a malformed payload; payments not confirmed.",
            ),
            ("authorize_bypass", commander, 60 * 30 - 10, "P1 confirmed."),
            ("start_hotfix", oncall, 60 * 30 - 20, ""),
            ("deploy", oncall, 60 * 30 - 90, "Guard against malformed payloads deployed."),
            ("start_monitoring", oncall, 60 * 30 - 95, ""),
            ("resolve", commander, 60 * 29, "Queue drained, error rate back to baseline."),
        )
        move(
            file(
                60 * 24 * 6,
                title="Search cluster out of disk",
                category="p1_incident",
                commander=commander,
                problem_statement="Search nodes hit 100% disk; search returned no results.",
            ),
            ("authorize_bypass", commander, 60 * 24 * 6 - 5, "P1 confirmed."),
            ("start_hotfix", oncall, 60 * 24 * 6 - 10, ""),
            ("deploy", oncall, 60 * 24 * 6 - 60, "Index retention lowered."),
            ("start_monitoring", oncall, 60 * 24 * 6 - 65, ""),
            ("resolve", commander, 60 * 24 * 6 - 240, "Stable for 3 hours."),
            ("close", qms, 60 * 24 * 3, "Closure checklist complete."),
        )
        move(
            file(
                60 * 8,
                title="Image resizer memory leak",
                category="p1_incident",
                commander=commander,
                problem_statement="Resizer pods OOM-kill every few minutes; product images missing.",
            ),
            ("authorize_bypass", commander, 60 * 8 - 5, "P1 confirmed."),
            ("start_hotfix", oncall, 60 * 8 - 10, ""),
            ("deploy", oncall, 60 * 8 - 70, "Pinned libvips to the previous version."),
            ("roll_back", oncall, 60 * 8 - 80, "Error rate rose 7% after deploy: rollback trigger."),
        )
        move(
            file(
                60 * 3,
                title="Dashboard colours wrong in dark mode",
                category="p1_incident",
                problem_statement="Reported as urgent by sales; not an outage.",
            ),
            ("convert_to_standard", commander, 60 * 3 - 15, "Not an outage: handled as a standard change."),
        )

    def _bypasses(self, users: dict[Role, User], password: str) -> None:
        lead, architect, qms = users[Role.LEAD], users[Role.ARCHITECT], users[Role.QMS]
        l1 = BypassInput(
            repository="web-frontend",
            pull_request="#881",
            checks=["documentation_coverage"],
            production_impact="low",
            code_quality_only=True,
            details={
                "reason": "Docs generator broken upstream",
                "impact_assessment": "No user impact",
                "risk_evaluation": "Low",
                "remediation_due": timezone.now().date() + timedelta(days=2),
            },
        )
        bypass_request_create(data=l1, actor=users[Role.ONCALL])
        l2 = BypassInput(
            repository="payments-api",
            pull_request="#4242",
            checks=["dor_dod", "code_quality_major"],
            production_impact="high",
            details={
                "impact_assessment": "Checkout latency for 5% of users",
                "complexity_score": 4,
                "test_coverage_impact": 12,
                "integration_risk": "Gateway contract unchanged",
                "rollback_feasibility": "easy",
                "business_factors": "Peak sales weekend",
                "business_justification": "Revenue at risk",
                "remediation_plan": "Restore DoD and backfill tests",
                "stakeholder_notification_plan": "Email product and support",
            },
        )
        active = bypass_request_create(data=l2, actor=lead)
        bypass_sign(
            bypass_id=active.pk,
            signer=architect,
            password=password,
            role=Role.ARCHITECT,
            comment="Reviewed",
            auth=DEMO_SIGNING,
        )
        bypass_sign(
            bypass_id=active.pk,
            signer=qms,
            password=password,
            role=Role.QMS,
            comment="Compliance ok",
            auth=DEMO_SIGNING,
        )
        l3 = BypassInput(
            repository="auth-service",
            pull_request="#97",
            checks=["security_critical"],
            production_impact="critical",
            security_involved=True,
            details={
                "security_impact_analysis": "Token validation bypass",
                "legal_compliance_assessment": "SOC 2 scope",
                "remediation_roadmap": "Upstream patch in 24 h",
                "incident_response_plan": "SOC on standby",
                "communication_strategy": "Status page and customer email",
            },
        )
        pending = bypass_request_create(data=l3, actor=lead)
        bypass_sign(
            bypass_id=pending.pk, signer=qms, password=password, role=Role.QMS, comment="Agreed", auth=DEMO_SIGNING
        )
        rejected = bypass_request_create(data=l1, actor=users[Role.ONCALL])
        bypass_reject(
            bypass_id=rejected.pk,
            signer=lead,
            password=password,
            role=Role.LEAD,
            reason="Fix the docs build instead; it is one line.",
            auth=DEMO_SIGNING,
        )
