"""The four procedure documents the portal implements, one module each; a migration loads them as version 1."""

from qms.procedures.presets import cm_wf_emergency, emergency_bypass_workflow, eng_proc_004, qms_emergency_bypass

PRESETS: list[dict] = [
    emergency_bypass_workflow.PRESET,
    qms_emergency_bypass.PRESET,
    eng_proc_004.PRESET,
    cm_wf_emergency.PRESET,
]
DEFAULT_PROCEDURE_CODE = "emergency-bypass-workflow"

__all__ = ["DEFAULT_PROCEDURE_CODE", "PRESETS"]
