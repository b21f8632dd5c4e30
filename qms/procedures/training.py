"""Which certifications qualify a person to sign in a role: procedure data (the ``training`` key).

QMS Emergency Bypass Procedures v1.0, "Training and Awareness": mandatory certifications
(``qms_bypass_procedures_basic``, ``incident_response_protocols``, ``compliance_awareness_training``,
``security_impact_assessment``) with annual recertification; CM-WF-EMERGENCY §17: every emergency response
team member completes the emergency patch process training (annual) and tabletop exercises (semi-annual).

A definition's block::

    "training": {
        "courses": {"<code>": {"label": "...", "validity_months": 12}},
        "role_certifications": {"<role>": ["<code>", ...]},
        "deviation_allowed_in_emergency": false,
    }

``deviation_allowed_in_emergency``: a person whose certification is missing or expired may still sign in an
emergency (a level E bypass, an emergency change and what belongs to it); the signature records the
deviation, a finding is raised and the QMS coordinators are told. Otherwise the signature is refused.
"""

from __future__ import annotations

from qms.roles import READ_ONLY_ROLES, Role

COURSES = {
    "qms_bypass_procedures_basic": {"label": "QMS bypass procedures (basic)", "validity_months": 12},
    "incident_response_protocols": {"label": "Incident response protocols", "validity_months": 12},
    "compliance_awareness_training": {"label": "Compliance awareness training", "validity_months": 12},
    "security_impact_assessment": {"label": "Security impact assessment", "validity_months": 12},
    "emergency_patch_training": {"label": "Emergency patch process training", "validity_months": 12},
    "tabletop_exercise": {"label": "Tabletop exercise", "validity_months": 6},
}

_BYPASS_COURSES = ["qms_bypass_procedures_basic", "incident_response_protocols"]

# QMS Emergency Bypass Procedures v1.0: the training matrix's groups (development leads; architects and QMS
# coordinators; incident commanders), each with the mandatory certifications that cover their part.
_QMS_ROLE_CERTIFICATIONS = {
    "lead": ["qms_bypass_procedures_basic"],
    "architect": ["qms_bypass_procedures_basic", "compliance_awareness_training"],
    "qms": ["qms_bypass_procedures_basic", "compliance_awareness_training"],
    "security": ["qms_bypass_procedures_basic", "security_impact_assessment"],
    "legal": ["compliance_awareness_training"],
    "commander": _BYPASS_COURSES,
    "executive": _BYPASS_COURSES,
    "engmanager": _BYPASS_COURSES,
}

_CM_WF_TEAM = ("commander", "cm", "safety", "security", "release", "engmanager", "quality", "program", "certlead")

TRAINING_QMS = {
    "courses": COURSES,
    "role_certifications": _QMS_ROLE_CERTIFICATIONS,
    "deviation_allowed_in_emergency": False,
}
# The Emergency Bypass Workflow and ENG-PROC-004 are about restoring service first: an untrained but
# otherwise entitled signer may sign in an emergency as a recorded deviation.
TRAINING_EMERGENCY = {**TRAINING_QMS, "deviation_allowed_in_emergency": True}
TRAINING_CM_WF = {
    "courses": COURSES,
    "role_certifications": {
        role: ["emergency_patch_training", "tabletop_exercise"]
        + (["security_impact_assessment"] if role == "security" else [])
        for role in _CM_WF_TEAM
    },
    "deviation_allowed_in_emergency": False,
}


def validate_training(definition: dict) -> list[str]:
    """What is wrong with a definition's ``training`` block (none when it has no block)."""
    block = definition.get("training")
    if block is None:
        return []
    if not isinstance(block, dict):
        return ["training must be a mapping with courses, role_certifications and deviation_allowed_in_emergency."]
    problems: list[str] = []
    courses = block.get("courses")
    if not isinstance(courses, dict) or not courses:
        return ["training.courses must name at least one course."]
    for code, course in courses.items():
        if not isinstance(course, dict) or not str(course.get("label", "")).strip():
            problems.append(f"training.courses.{code} needs a label.")
            continue
        months = course.get("validity_months")
        if not isinstance(months, int) or isinstance(months, bool) or not 1 <= months <= 60:
            problems.append(f"training.courses.{code}.validity_months must be a whole number of months, 1 to 60.")
    roles = {r.value for r in Role}
    required = block.get("role_certifications", {})
    if not isinstance(required, dict):
        return [*problems, "training.role_certifications must map roles to lists of course codes."]
    for role, codes in required.items():
        if role not in roles:
            problems.append(f"training.role_certifications names an unknown role {role!r}.")
        elif Role(role) in READ_ONLY_ROLES:
            problems.append(f"training.role_certifications: {Role(role).label} is read-only and never signs.")
        if not isinstance(codes, list):
            problems.append(f"training.role_certifications.{role} must be a list of course codes.")
            continue
        problems += [
            f"training.role_certifications.{role} names an unknown course {c!r}." for c in codes if c not in courses
        ]
    if not isinstance(block.get("deviation_allowed_in_emergency", False), bool):
        problems.append("training.deviation_allowed_in_emergency must be true or false.")
    return problems


class TrainingRules:
    """The training questions asked of a procedure version (mixed into ``ProcedureRules``)."""

    definition: dict

    @property
    def training(self) -> dict:
        """The ``training`` block; versions written before it existed read QMS Emergency Bypass Procedures'."""
        return self.definition.get("training") or TRAINING_QMS

    @property
    def courses(self) -> dict[str, dict]:
        return self.training.get("courses", {})

    def required_courses(self, role: Role | str) -> list[str]:
        return list(self.training.get("role_certifications", {}).get(str(role), []))

    @property
    def training_deviation_allowed(self) -> bool:
        return bool(self.training.get("deviation_allowed_in_emergency"))


def course_catalogue(definitions: list[dict]) -> dict[str, dict]:
    """Every course the given definitions know, with the longest validity any of them gives it."""
    catalogue: dict[str, dict] = {}
    for definition in definitions:
        for code, course in (definition.get("training") or TRAINING_QMS)["courses"].items():
            known = catalogue.get(code)
            if known is None or course["validity_months"] > known["validity_months"]:
                catalogue[code] = dict(course)
    return catalogue
