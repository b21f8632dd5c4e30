"""The training gate of every signature, vote and decision (called by ``signature_record``)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import models

from qms import signals
from qms.models import User
from qms.roles import Role
from qms.services.notifications import notification_queue
from qms.services.training import qualification_gaps


class NotCertified(PermissionDenied):
    """The signer lacks a valid certification the procedure asks of the role."""


def subject_rules(subject: models.Model):
    """The rules of the procedure version a signed record runs under (its own, or its change's)."""
    for candidate in (subject, getattr(subject, "change", None)):
        if candidate is not None and getattr(candidate, "procedure_version_id", None):
            return candidate.rules
    return None


def is_emergency(subject: models.Model) -> bool:
    """A level E bypass, an emergency change, or a record of an emergency change (its CCB, patch, post-mortem)."""
    if getattr(subject, "_meta", None) and subject._meta.model_name == "bypassrequest":
        return subject.level == "E"
    change = subject if hasattr(subject, "identifier") and hasattr(subject, "author_id") else None
    change = change or getattr(subject, "change", None)
    return getattr(change, "level", None) == "emergency"


@dataclass(frozen=True)
class TrainingDeviation:
    signer: User
    role: Role
    gaps: list[str]

    @property
    def reason(self) -> str:
        return f"Signed as {self.role.label} without a valid certification: " + "; ".join(self.gaps) + "."

    def raise_for(self, *, signature, subject) -> None:
        """A finding for the record (an audit event and a clock on the signer) and the QMS coordinators told."""
        signals.training_deviation_signed.send(sender=type(signature), signature=signature, subject=subject)
        notification_queue(
            recipients=User.objects.filter(is_active=True, groups__name=Role.QMS.group_name).distinct(),
            dedupe_prefix=f"training-deviation:{signature.pk}",
            template="training_deviation",
            context={"signature": signature, "subject_label": str(subject), "reason": self.reason},
            link=subject.get_absolute_url() if hasattr(subject, "get_absolute_url") else "",
        )


def signing_training_refusal(*, subject: models.Model, signer: User, role: Role) -> str | None:
    """What a page shows before the signer tries: the reason the signature would be refused, or None. A
    deviation the procedure allows is not a refusal (the page warns with :func:`signing_training_warning`)."""
    rules = subject_rules(subject)
    if rules is None:
        return None
    gaps = qualification_gaps(signer, role, rules)
    if not gaps or (rules.training_deviation_allowed and is_emergency(subject)):
        return None
    return f"{signer.display_name} is not certified to sign as {Role(role).label}: " + "; ".join(gaps) + "."


def signature_training_check(*, subject: models.Model, signer: User, role: Role) -> TrainingDeviation | None:
    """Refuse a signature in a role whose certification is missing or expired, or, where the procedure
    allows it in an emergency, return the deviation the signature records."""
    rules = subject_rules(subject)
    if rules is None:
        return None
    role = Role(role)
    gaps = qualification_gaps(signer, role, rules)
    if not gaps:
        return None
    if rules.training_deviation_allowed and is_emergency(subject):
        return TrainingDeviation(signer=signer, role=role, gaps=gaps)
    raise NotCertified(f"{signer.display_name} is not certified to sign as {role.label}: " + "; ".join(gaps) + ".")
