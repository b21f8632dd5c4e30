import copy

from qms.roles import Role
from qms.services import procedure_drafts as pd
from tests.factories import PASSWORD

EBW = "emergency-bypass-workflow"


def clock(definition, kind):
    return next(c for c in definition["clocks"] if c["kind"] == kind)


def shortened(definition, *, post_mortem=48, triage=20):
    new = copy.deepcopy(definition)
    clock(new, "post_mortem")["amount"] = post_mortem
    clock(new, "triage")["amount"] = triage
    return new


def draft_in_review(author, code=EBW, **kwargs):
    draft = pd.procedure_draft_start(procedure_code=code, actor=author)
    pd.procedure_draft_update(
        draft_id=draft.pk,
        actor=author,
        definition=shortened(draft.definition, **kwargs),
        change_note="Post-mortem within 48 hours.",
    )
    return pd.procedure_draft_submit(draft_id=draft.pk, actor=author)


def approve_all(draft, quality, second_qms):
    pd.procedure_draft_approve(draft_id=draft.pk, signer=quality, password=PASSWORD, role=Role.QUALITY)
    return pd.procedure_draft_approve(draft_id=draft.pk, signer=second_qms, password=PASSWORD, role=Role.QMS)
