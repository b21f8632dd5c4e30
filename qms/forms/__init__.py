"""Forms of the project: preferences and API tokens, the procedure editor, and the helpers every form shares."""

from qms.forms.base import (
    apply_validation_error,
    form_data,
)
from qms.forms.preferences import (
    ApiTokenForm,
    PreferencesForm,
)
from qms.forms.procedures import (
    ProcedureRulesForm,
)

__all__ = [
    "ApiTokenForm",
    "PreferencesForm",
    "ProcedureRulesForm",
    "apply_validation_error",
    "form_data",
]
