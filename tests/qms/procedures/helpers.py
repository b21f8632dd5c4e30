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


def rules_form_data(definition, **changes):
    """What the draft page's rules form posts when nothing is touched, with ``changes`` applied."""
    from qms.forms.procedures import ProcedureRulesForm

    form = ProcedureRulesForm(definition)
    data = {"editor": "form", "change_note": "Rules edited through the form."}
    for name, field in form.fields.items():
        value = form.get_initial_for_field(field, name)
        data[name] = "" if value is None else value
    data.update(changes)
    return data


def field_block(page: str, name: str) -> str:
    """The HTML of one field of the rules form (its label, input, help and errors)."""
    marker = f'data-field="{name}">'
    assert marker in page, name
    return page.split(marker, 1)[1].split('<div class="field', 1)[0].split("</form>", 1)[0]


def rules_form_post(client, draft, **changes):
    """Post the draft's rules form as its author, with ``changes`` applied to an untouched form."""
    from django.urls import reverse

    client.force_login(draft.author)
    return client.post(
        reverse("qms:procedure-draft-edit", args=[draft.pk]), rules_form_data(draft.definition, **changes)
    )


def rules_form_saved(client, draft, **changes) -> tuple[dict, list[str]]:
    """Save the rules form with ``changes``: the definition before, and the draft's diff in words after."""
    before = copy.deepcopy(draft.definition)
    response = rules_form_post(client, draft, **changes)
    assert response.status_code == 302, response.content.decode()[:2000]
    draft.refresh_from_db()
    return before, pd.draft_diff(draft)


def rules_form_refused(client, draft, field, message, **changes) -> None:
    """The rules form refuses ``changes`` with ``message`` at ``field``, and the draft is unchanged."""
    before = copy.deepcopy(draft.definition)
    response = rules_form_post(client, draft, **changes)
    assert response.status_code == 400
    assert message in field_block(response.content.decode(), field)
    draft.refresh_from_db()
    assert draft.definition == before


ACCESSIBILITY = "accessibility_review"


def publish_gate(*, author, quality, qms, code=ACCESSIBILITY, label="Accessibility review", min_level="L1"):
    """Draft, review, approve and publish a version of the default procedure whose catalogue adds a gate of its
    own, skipped (and validated after the fact) by its emergency bypasses too; answers the published version."""
    draft = pd.procedure_draft_start(procedure_code=EBW, actor=author)
    definition = copy.deepcopy(draft.definition)
    definition["gates"][code] = {"label": label, "min_level": min_level}
    definition["retroactive_checks"].append(code)
    pd.procedure_draft_update(draft_id=draft.pk, actor=author, definition=definition, change_note=f"New gate: {label}.")
    draft = approve_all(pd.procedure_draft_submit(draft_id=draft.pk, actor=author), quality, qms)
    return pd.procedure_draft_publish(draft_id=draft.pk, actor=author).published_version
