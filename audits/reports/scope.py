"""Which procedure a compliance report covers: all of them, one procedure (every version of it) or one version.

Changes and bypass requests pin the procedure version they were filed under; a report of one procedure counts
only those, and the clocks that run on them (on the change, on the bypass, on the change's CCB sessions), and
the stakeholder notifications about them (``audits.reports.metrics.stakeholders``). Clocks on people
(recertification, training deviations) are counted for the certifications the scoped version asks of a role
(its ``training.role_certifications``, for every version of a procedure their union), on the people who hold
that role now.

A procedure is named by its code, a version by ``CODE:N`` (``emergency-bypass-workflow:2``), on the report
page's form, in the API and on the command line alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db.models import Q

from audits.clocks import TRAINING_KINDS
from qms.models import Procedure, ProcedureVersion, User
from qms.procedures.training import TRAINING_QMS
from qms.roles import Role

ALL_PROCEDURES = "all procedures"
EXAMPLE_REFERENCE = "emergency-bypass-workflow:2"


@dataclass(frozen=True)
class Scope:
    """The procedure (``procedure_id``) or the one version (``version_id``) a report counts; neither: all."""

    procedure_id: int | None = None
    version_id: int | None = None
    # (role, course) pairs the scope's version(s) require (``training.role_certifications``); the range
    # drill-downs, which only read changes and bypasses, leave them empty.
    certifications: tuple[tuple[str, str], ...] = ()

    @property
    def everything(self) -> bool:
        return self.procedure_id is None and self.version_id is None

    def lookups(self, path: str = "procedure_version") -> dict:
        """Filter keywords for records that pin a version at ``path`` (a change's, a bypass's)."""
        if self.version_id is not None:
            return {f"{path}_id": self.version_id}
        if self.procedure_id is not None:
            return {f"{path}__procedure_id": self.procedure_id}
        return {}

    def obligations(self) -> Q:
        """The clocks whose subject is pinned to the scope: a change, a bypass request or a CCB session."""
        if self.everything:
            return Q()
        from emergencies.models import BypassRequest, CCBSession, ChangeRecord

        subjects = (
            (ChangeRecord, "procedure_version"),
            (BypassRequest, "procedure_version"),
            (CCBSession, "change__procedure_version"),
        )
        q = Q(pk__in=[])
        for model, path in subjects:
            pks = model.objects.filter(**self.lookups(path)).values("pk")
            q |= Q(subject_type=ContentType.objects.get_for_model(model), subject_id__in=pks)
        return q | self._training_clocks()

    def _training_clocks(self) -> Q:
        """Recertification and training-deviation clocks (keyed ``<course>:…``, on a person) of a course the
        scope requires of a role the person holds."""
        q = Q(pk__in=[])
        by_role: dict[str, list[str]] = {}
        for role, course in self.certifications:
            by_role.setdefault(role, []).append(course)
        for role, courses in sorted(by_role.items()):
            holders = User.objects.filter(groups__name=Role(role).group_name).values("pk")
            keys = Q(pk__in=[])
            for course in sorted(courses):
                keys |= Q(key__startswith=f"{course}:")
            q |= Q(keys, subject_id__in=holders)
        if not by_role:
            return q
        return Q(q, kind__in=TRAINING_KINDS, subject_type=ContentType.objects.get_for_model(User))

    @classmethod
    def of_report(cls, report) -> Scope:
        return cls(procedure_id=report.procedure_id, version_id=report.procedure_version_id)


@dataclass(frozen=True)
class ResolvedScope:
    """A scope with the records it names, as the report model stores them."""

    procedure: Procedure | None = None
    version: ProcedureVersion | None = None
    certifications: tuple[tuple[str, str], ...] = ()

    @property
    def scope(self) -> Scope:
        return Scope(
            procedure_id=self.procedure.pk if self.procedure else None,
            version_id=self.version.pk if self.version else None,
            certifications=self.certifications,
        )

    @property
    def reference(self) -> str:
        if self.version is not None:
            return f"{self.procedure.code}:{self.version.version}"
        return self.procedure.code if self.procedure is not None else ""

    @property
    def label(self) -> str:
        return scope_label(self.procedure, self.version)

    def as_payload(self) -> dict | None:
        if self.procedure is None:
            return None
        return {
            "code": self.procedure.code,
            "title": self.procedure.title,
            "version": self.version.version if self.version else None,
            "label": self.label,
        }


def scope_label(procedure: Procedure | None, version: ProcedureVersion | None) -> str:
    """ "Emergency Bypass Workflow v2", "Emergency Bypass Workflow, all versions" or "all procedures"."""
    if procedure is None:
        return ALL_PROCEDURES
    if version is None:
        return f"{procedure.title}, all versions"
    return f"{procedure.title} v{version.version}"


def report_scope_resolve(reference: str | None) -> ResolvedScope:
    """``""`` → all procedures, ``CODE`` → every version of one, ``CODE:N`` → version N of it.

    An unknown procedure or version is a field error on ``procedure_version``.
    """
    reference = (reference or "").strip()
    if not reference:
        return ResolvedScope()
    code, sep, number = reference.partition(":")
    code = code.strip()
    if sep and not (number.strip().isdigit() and len(number.strip()) < 10):
        raise ValidationError(
            {
                "procedure_version": [
                    f"“{reference[:80]}” is not a procedure version: give CODE:N, e.g. {EXAMPLE_REFERENCE}."
                ]
            }
        )
    procedure = Procedure.objects.filter(code=code).first() if len(code) <= 64 else None
    if procedure is None:
        raise ValidationError({"procedure_version": [f"No procedure “{code[:80]}”."]})
    if not sep:
        definitions = procedure.versions.values_list("definition", flat=True)
        return ResolvedScope(procedure=procedure, certifications=_certifications(definitions))
    version = ProcedureVersion.objects.filter(procedure=procedure, version=int(number)).first()
    if version is None:
        raise ValidationError({"procedure_version": [f"{procedure.title} has no version {int(number)}."]})
    return ResolvedScope(procedure=procedure, version=version, certifications=_certifications([version.definition]))


def _certifications(definitions) -> tuple[tuple[str, str], ...]:
    """Every (role, course) the definitions' training blocks require (the QMS default where there is none)."""
    pairs = set()
    for definition in definitions:
        block = (definition or {}).get("training") or TRAINING_QMS
        for role, courses in (block.get("role_certifications") or {}).items():
            pairs.update((role, course) for course in courses)
    return tuple(sorted(pairs))


def report_scope_choices() -> list[tuple[str, str]]:
    """The choices of the generation form: every procedure (all its versions), then each of its versions."""
    choices = [("", "All procedures")]
    versions = ProcedureVersion.objects.select_related("procedure").order_by("procedure__title", "version")
    seen = set()
    for v in versions:
        if v.procedure_id not in seen:
            seen.add(v.procedure_id)
            choices.append((v.procedure.code, f"{v.procedure.title}, all versions"))
        choices.append((f"{v.procedure.code}:{v.version}", scope_label(v.procedure, v)))
    return choices
