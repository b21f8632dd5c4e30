import pytest


@pytest.fixture
def start(make_user):
    """A draft of a procedure (by default the QMS Emergency Bypass Procedures v1), started by a QMS coordinator."""
    from qms.roles import Role
    from qms.services import procedure_drafts as pd

    def _start(code="qms-emergency-bypass-v1"):
        return pd.procedure_draft_start(procedure_code=code, actor=make_user(Role.QMS))

    return _start
