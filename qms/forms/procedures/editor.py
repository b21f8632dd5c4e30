"""The draft editor's form: every rule the portal enforces, section by section, each field explained.

It edits a copy of the draft's definition and saves through ``procedure_draft_update`` like the YAML editor;
the validation's problems are put back on the field they name (``clocks.post_mortem.amount`` → that clock's
amount, ``emergency_criteria.cvss_emergency_min`` → the emergency CVSS minimum).
"""

from __future__ import annotations

import copy

from django import forms

from qms.forms.procedures import (
    authorisers,
    bypass,
    ccb,
    ccb_decision,
    escalation,
    gates,
    notifications,
    oncall,
    severity,
    timing,
    training,
)

SECTIONS = (
    timing.SECTION,
    severity.SECTION,
    oncall.SECTION,
    authorisers.SECTION,
    bypass.SECTION,
    gates.SECTION,
    escalation.SECTION,
    notifications.SECTION,
    ccb.SECTION,
    ccb_decision.SECTION,
    training.SECTION,
)


class ProcedureRulesForm(forms.Form):
    def __init__(self, definition: dict, data=None):
        super().__init__(data)
        self.definition = definition
        self._sections = []
        for section in SECTIONS:
            fields = section.fields(definition)
            if fields:
                self.fields.update(fields)
                self._sections.append((section, list(fields)))

    @property
    def fieldsets(self) -> list[dict]:
        """The sections shown, each with its heading, its explanation and its bound fields in order."""
        return [
            {"key": s.key, "heading": s.heading, "intro": s.intro, "fields": [self[name] for name in names]}
            for s, names in self._sections
        ]

    def clean(self):
        data = super().clean()
        for section, _ in self._sections:
            if section.clean:
                for name, message in section.clean(data, self.definition).items():
                    if name not in self.errors:
                        self.add_error(name, message)
        return data

    def edited_definition(self) -> dict:
        """The draft's definition with this form's values (call after ``is_valid``)."""
        new = copy.deepcopy(self.definition)
        for section, _ in self._sections:
            section.apply(new, self.cleaned_data)
        return new

    def add_problems(self, problems: list[str]) -> None:
        """Put each problem of the validation on the field it names; the rest on the form."""
        for problem in problems:
            # The path is what comes before the colon ("clocks.triage.amount: …") or the first word
            # ("training.courses.x.validity_months must be …").
            path = problem.split(":", 1)[0].split(" ", 1)[0]
            name = None
            for section, _ in self._sections:
                name = section.field_for(path, self.definition)
                if name:
                    break
            if name in self.fields:
                # At its field the path is redundant: "emergency_criteria.cvss_expedited_min: at most …" → "At most …".
                words = problem.split(":", 1)[-1].strip() if ":" in problem else problem
                self.add_error(name, words[:1].upper() + words[1:])
            else:
                self.add_error(None, problem)
