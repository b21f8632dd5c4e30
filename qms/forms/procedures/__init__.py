"""The draft editor's form: every rule the portal enforces, each field explained, beside edit-as-YAML."""

from qms.forms.procedures.timing import ProcedureRulesForm

__all__ = ["ProcedureRulesForm"]
