"""The post-incident work the closure checklist (§4.5) asks for, walked through the services: the change's
documentation, a post-mortem with a preventive measure and its follow-up change, submitted and approved by
signature, every bypassed gate validated retroactively, and the stakeholders notified. ``seed_demo`` walks
it with the demo's texts and the test factories (``tests.factories.close_emergency``) with short ones, so
demo data and test set-ups reach closure the same way."""

from __future__ import annotations

from dataclasses import dataclass

from emergencies.models import ChangeRecord, PostMortem
from emergencies.services import postincident as pi
from qms.models import User
from qms.roles import Role
from qms.services import SigningAuth


@dataclass(frozen=True)
class PostIncidentTexts:
    """What the author writes on the way: documentation sections, post-mortem fields, the preventive measure
    (``measure``, ``category``, ``priority``), the gates' evidence and the approver's comment."""

    sections: dict[str, str]
    post_mortem: dict
    measure: dict[str, str]
    evidence: str
    approval_comment: str = ""


def post_incident_complete(
    *,
    change: ChangeRecord,
    author: User,
    approver: User,
    password: str,
    validator: User,
    texts: PostIncidentTexts,
    auth: SigningAuth | None = None,
) -> PostMortem:
    """Everything between resolution and the ``close`` transition, by ``author`` (the post-mortem approved by
    ``approver`` as incident commander, the gates validated by ``validator``); the caller then closes."""
    pi.change_documentation_update(change_id=change.pk, actor=author, sections=texts.sections)
    post_mortem = pi.post_mortem_start(change_id=change.pk, actor=author)
    pi.post_mortem_update(post_mortem_id=post_mortem.pk, actor=author, fields=texts.post_mortem)
    measure = pi.preventive_measure_add(post_mortem_id=post_mortem.pk, actor=author, **texts.measure)
    pi.preventive_measure_follow_up_create(measure_id=measure.pk, actor=author)
    pi.post_mortem_submit(post_mortem_id=post_mortem.pk, actor=author)
    post_mortem = pi.post_mortem_approve(
        post_mortem_id=post_mortem.pk,
        signer=approver,
        password=password,
        role=Role.COMMANDER,
        comment=texts.approval_comment,
        auth=auth,
    )
    for gate in pi.gate_catalogue(change):
        pi.gate_result_record(change_id=change.pk, gate=gate, result="passed", evidence=texts.evidence, actor=validator)
    pi.change_deployment_flag_set(change_id=change.pk, flag="stakeholders_notified", done=True, actor=author)
    return post_mortem
