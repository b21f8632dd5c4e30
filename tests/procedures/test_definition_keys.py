"""Every key a procedure definition carries is read by the engine: a key nobody reads would be a rule the
portal claims to enforce and does not."""

import re
from pathlib import Path

import pytest

from qms.procedures import PRESETS

ROOT = Path(__file__).resolve().parents[2]
ENGINE = [
    *ROOT.joinpath("qms").glob("*.py"),
    *ROOT.joinpath("emergencies").rglob("*.py"),
    *ROOT.joinpath("audits").rglob("*.py"),
]
SOURCE = "\n".join(p.read_text() for p in ENGINE if "migrations" not in p.parts)
KEYS = sorted({k for p in PRESETS for k in p["definition"]} | {"post_mortem_approvers"})
# Keys that are no rule of the engine.
READ_ELSEWHERE = {"summary": "a description of the procedure, not a rule"}


@pytest.mark.parametrize("key", KEYS)
def test_every_definition_key_is_read_by_the_engine(key):
    if key in READ_ELSEWHERE:
        return
    read = re.search(rf'(\[|get\(|getattr\([^)]*)"{re.escape(key)}"', SOURCE)
    assert read, f"No engine code reads the definition key {key!r}"
