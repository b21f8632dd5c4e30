"""The draft editor's form: every rule the portal enforces, each field explained, beside edit-as-YAML.
One module per section of the page (clocks, severity, authorisers, bypass levels, escalation, who is notified,
CCB, training)."""

from qms.forms.procedures.editor import SECTIONS, ProcedureRulesForm

__all__ = ["SECTIONS", "ProcedureRulesForm"]
