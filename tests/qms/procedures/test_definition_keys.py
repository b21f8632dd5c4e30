"""Every key a procedure definition carries is read by the engine: a key nobody reads would be a rule the
portal claims to enforce and does not. The keys are those of the presets, those the YAML schema documents
(docs/procedures-yaml.md) and, for the blocks whose settings have fixed names, their second-level keys."""

import re
from pathlib import Path

import pytest

from qms.procedures import PRESETS

ROOT = Path(__file__).resolve().parents[3]
ENGINE = [
    *ROOT.joinpath("qms").rglob("*.py"),
    *ROOT.joinpath("emergencies").rglob("*.py"),
    *ROOT.joinpath("audits").rglob("*.py"),
]
SOURCE = "\n".join(p.read_text() for p in ENGINE if "migrations" not in p.parts)
SCHEMA = ROOT.joinpath("docs", "procedures-yaml.md").read_text()
DOCUMENTED = {key for row in re.findall(r"^\| (`[^|]+)\|", SCHEMA, re.M) for key in re.findall(r"`(\w+)`", row)}
PRESET_KEYS = {k for p in PRESETS for k in p["definition"]}
KEYS = sorted(PRESET_KEYS | DOCUMENTED | {"post_mortem_approvers"})
# Blocks whose settings have fixed names (not codes chosen by the procedure, like severities or roles).
FIXED_BLOCKS = ("training", "emergency_criteria", "decision_tree", "proceed_before_authorisation", "compliance")
NESTED = sorted({f"{block}.{k}" for p in PRESETS for block in FIXED_BLOCKS for k in (p["definition"].get(block) or {})})
# Keys that are no rule of the engine.
READ_ELSEWHERE = {"summary": "a description of the procedure, not a rule"}


def _read(key: str) -> bool:
    return bool(re.search(rf'(\[|get\(|getattr\([^)]*)["\']{re.escape(key)}["\']', SOURCE))


@pytest.mark.parametrize("key", KEYS)
def test_every_definition_key_is_read_by_the_engine(key):
    if key in READ_ELSEWHERE:
        return
    assert _read(key), f"No engine code reads the definition key {key!r}"


@pytest.mark.parametrize("path", NESTED)
def test_every_setting_of_a_fixed_block_is_read_by_the_engine(path):
    assert _read(path.split(".", 1)[1]), f"No engine code reads {path!r}"


def test_every_preset_key_is_documented_in_the_yaml_schema():
    assert not PRESET_KEYS - DOCUMENTED, PRESET_KEYS - DOCUMENTED


def test_the_keys_added_since_the_first_presets_are_covered():
    for key in ("training", "gates", "retroactive_checks", "post_mortem_approvers"):
        assert key in KEYS
    assert {"training.courses", "training.role_certifications", "training.deviation_allowed_in_emergency"} <= set(
        NESTED
    )
