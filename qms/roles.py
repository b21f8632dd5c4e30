"""The portal's roles. Each is a Django group (created by a migration); a user may hold several."""

from enum import StrEnum


class Role(StrEnum):
    ONCALL = "oncall"
    COMMANDER = "commander"
    LEAD = "lead"
    ARCHITECT = "architect"
    QMS = "qms"
    SECURITY = "security"
    LEGAL = "legal"
    EXECUTIVE = "executive"
    CM = "cm"
    SAFETY = "safety"
    ENGMANAGER = "engmanager"
    QUALITY = "quality"
    PROGRAM = "program"
    RELEASE = "release"
    CERTLEAD = "certlead"
    TESTLEAD = "testlead"
    OPSLEAD = "opslead"
    AUDITOR = "auditor"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]

    @property
    def group_name(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS: dict[Role, str] = {
    Role.ONCALL: "On-call engineer",
    Role.COMMANDER: "Incident commander",
    Role.LEAD: "Development lead",
    Role.ARCHITECT: "Core architect",
    Role.QMS: "QMS coordinator",
    Role.SECURITY: "Security officer",
    Role.LEGAL: "Legal",
    Role.EXECUTIVE: "Executive",
    Role.CM: "Configuration manager",
    Role.SAFETY: "Safety manager",
    Role.ENGMANAGER: "Engineering manager",
    Role.QUALITY: "Quality manager",
    Role.PROGRAM: "Program manager",
    Role.RELEASE: "Release manager",
    Role.CERTLEAD: "Certification lead",
    Role.TESTLEAD: "Test lead",
    Role.OPSLEAD: "Operations lead",
    Role.AUDITOR: "Auditor",
}

GROUP_TO_ROLE: dict[str, Role] = {label: role for role, label in ROLE_LABELS.items()}

# Auditors read everything and change nothing.
READ_ONLY_ROLES = frozenset({Role.AUDITOR})

# CM-WF-EMERGENCY §13.1 key roles: each keeps an on-call roster (qms.roster). The procedure's "Engineering Lead"
# is the development lead, the role ENG-PROC-004 already asks to approve.
KEY_ROLES: tuple[Role, ...] = (
    Role.COMMANDER,
    Role.SAFETY,
    Role.SECURITY,
    Role.CM,
    Role.RELEASE,
    Role.LEAD,
    Role.TESTLEAD,
    Role.OPSLEAD,
)
